"""The ASE AOI plot: its layout (rings, printed statistics), shared by ase-synth and the paper model."""
