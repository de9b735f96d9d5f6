"""Planning and running a grid: config, cells, splits, episodes, the cell runner and its executors."""
