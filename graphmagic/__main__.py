"""``python -m graphmagic run NOTEBOOK.ipynb``: see graphmagic.cli."""
from .cli import main

raise SystemExit(main())
