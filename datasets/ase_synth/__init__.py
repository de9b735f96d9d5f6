"""``ase-synth``: the embedded synthetic ASE AOI dataset (importing this registers the adapter)."""

from asebench.datasets.ase_synth.adapter import AseSynth, AseSynthOptions

__all__ = ["AseSynth", "AseSynthOptions"]
