"""What exists only for ``make demo`` and the tests: synthetic scenes in ImageNet's and ADE20K's layouts, token-label
maps computed from their exact masks (a stand-in for a machine annotator), and their class colours."""
