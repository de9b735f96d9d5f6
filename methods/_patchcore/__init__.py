"""PatchCore (Roth et al., CVPR 2022) as pure functions: locally aware patch features, coreset, scoring.

Kept apart from the plugin (:mod:`asebench.methods.patchcore`) so a bench
script can import the algorithm without the harness's data or records.
"""
