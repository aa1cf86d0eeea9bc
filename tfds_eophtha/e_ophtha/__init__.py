"""The e_ophtha dataset."""
