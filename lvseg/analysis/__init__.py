"""Model analysis for tools/analysis and bench/: FLOP and parameter counts."""
