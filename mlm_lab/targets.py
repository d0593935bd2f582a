"""The convention between the data that makes targets and the model that scores them."""

IGNORE_INDEX = -1  # target value that the loss skips (padding, prompt tokens, the <bos> of each window)
