"""The data: datasets and their download, splitting and scaling, image files people give."""
