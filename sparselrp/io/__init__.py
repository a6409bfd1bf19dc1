"""File readers and writers, one small module per format."""
