"""The data stage: e-ophtha trees, fundus normalisation, lesion instances and their masks, synthetic
photographs, and the pictures people look at. Nothing here knows about the model."""
