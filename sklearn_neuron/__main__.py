"""``python -m sklearn_neuron``: run the comparison study (see ``_study/cli.py``)."""

import sys

from ._study.cli import main

sys.exit(main())
