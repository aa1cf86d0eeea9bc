"""Whole jobs built from the stages: the scheduled train-evaluate-export cycle and the end-to-end demo."""
