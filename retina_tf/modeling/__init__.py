"""Model Garden model subclasses."""
