"""Learnable part of the paper's model (issue 6): options, image/text streams, PFA, CMAF, training."""
