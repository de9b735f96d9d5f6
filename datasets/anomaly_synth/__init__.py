"""``anomaly-synth``: generated MVTec-style anomaly data with exact masks (importing this registers the adapter)."""

from asebench.datasets.anomaly_synth.adapter import AnomalySynth, AnomalySynthOptions

__all__ = ["AnomalySynth", "AnomalySynthOptions"]
