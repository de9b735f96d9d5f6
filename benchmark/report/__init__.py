"""Reports built from records only: aggregation, tables and their renderers, figures, HTML, paper tables."""
