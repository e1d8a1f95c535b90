"""Data: the sequence text format, raw logs, the dataset catalog, splits and batches."""
