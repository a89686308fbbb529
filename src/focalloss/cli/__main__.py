"""``python -m focalloss.cli``: the same as the ``focalloss`` command."""

from . import main

raise SystemExit(main())
