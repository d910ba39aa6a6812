"""The errors of the social text path: a lexicon or a gazetteer that cannot be used, with a message naming the
file and the key. (Plain Python classes: the modules that raise them are compiled with mypyc, whose classes cannot
derive from RuntimeError.)"""


class LexiconError(ValueError):
    """lexicon.yaml is wrong; the message names the key."""


class GazetteerError(RuntimeError):
    """The ward data or streets.yaml cannot be read."""
