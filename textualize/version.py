"""The textualizer version, stored beside every rendered text and every draft.

Bump rules: any change to the text produced for the same cues bumps it, so stored
drafts can say which wording the LLM saw.

* major (``"2.0"``): the layout changes -- section names, order, line grammar that a
  prompt template or parser relies on;
* minor (``"1.1"``): wording, thresholds, rounding, selection or vocabulary change
  within the same layout.

Pure refactors that leave every output byte-identical do not bump it.
"""

TEXTUALIZER_VERSION = "2.1"
