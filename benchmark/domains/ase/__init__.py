"""The ASE AOI plot: what its images print and how the annotation stage reads and describes them.

Shared by the ``ase-synth`` generator (which draws the :mod:`.layout`) and the
paper's model (which reads it back through :mod:`.annotation`, the generic
``asebench.annotation`` stage bound to this domain). Nothing here imports a
method or a dataset; importing this package itself is free (the modules are
imported one by one).

* :mod:`.layout`: the radius rings and the four printed statistics;
* :mod:`.ocr_reading`, :mod:`.ocr_parser`: the OCR reading of the table and
  the parser that turns text boxes into it;
* :mod:`.measure`: pixel measurements of the pink dot cloud;
* :mod:`.class_statistics`, :mod:`.templates`: per-class averages (training
  split only) and the sentences the LLM reads;
* :mod:`.prompts`: the paper's VLM and LLM prompts;
* :mod:`.stand_ins`: the offline ``dot-cloud-describer`` and ``numeric-reasoner``;
* :mod:`.annotation`: the stage bound to all of the above.
"""
