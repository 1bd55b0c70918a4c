import sys

from selfre.cli import main

sys.exit(main())
