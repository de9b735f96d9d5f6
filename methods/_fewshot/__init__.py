"""Shared helpers of the few-shot plugins (ProtoNet, MAML family, SimpleShot, k-shot probe).

Import-light (pydantic, numpy), so plugin modules import them at module level:
:mod:`.options`, :mod:`.sampling`, :mod:`.meta` (the meta-learner base class)
and :mod:`.l2l`. Everything that needs torch or learn2learn (:mod:`.inputs`,
:mod:`.networks`, :mod:`.tasks`) is imported inside methods, so
``asebench list`` never pulls those in.
"""
