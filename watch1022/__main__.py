import sys

from watch1022.cli import main

sys.exit(main())
