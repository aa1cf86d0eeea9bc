"""The idrid dataset."""
