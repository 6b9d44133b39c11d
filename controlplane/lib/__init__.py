"""Small pure helpers shared by several apps."""
