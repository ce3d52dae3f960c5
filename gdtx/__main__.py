"""``python -m gdtx``: runs the demo (see gdtx/_demo.py)."""

from ._demo import main

if __name__ == "__main__":
    main()
