import sys

from ionia.cli.main import main

sys.exit(main())
