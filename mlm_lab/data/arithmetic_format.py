"""How arithmetic text looks to the model, and back: zero-padded operands, reversed answer digits.

Users always see the plain form (`12+34=` -> `46`); only the model sees `012+034=` -> `64`.
"""

import re

_TOKEN = re.compile(r"[0-9]+|[+\-*/]")
_PROMPT = re.compile(r"^[0-9]+(?:[+\-*/][0-9]+)*=?$")


class ArithmeticFormat:
    """Maps plain prompts and answers to the model's text format and back."""

    def __init__(self, operand_width: int = 0, reverse_answer: bool = False):
        self.operand_width = operand_width  # zero-pad operands to this many digits (0: no padding)
        self.reverse_answer = reverse_answer  # write answer digits least-significant first

    def prompt_to_model(self, prompt: str) -> str:
        compact = "".join(prompt.split())
        if not _PROMPT.match(compact):
            raise ValueError(f"prompt {prompt!r} is not an arithmetic expression such as '12+34='")
        parts = [t if t in "+-*/" else t.zfill(self.operand_width) for t in _TOKEN.findall(compact)]
        return "".join(parts) + "="

    def answer_to_model(self, answer: str) -> str:
        return self._flip(answer)

    def answer_from_model(self, text: str) -> str:
        return self._flip(text.strip())

    def _flip(self, answer: str) -> str:
        if not self.reverse_answer:
            return answer
        sign = "-" if answer.startswith("-") else ""
        return sign + answer[len(sign) :][::-1]

    def to_config(self) -> dict:
        """A `_target_` config that rebuilds this format (stored with registered models)."""
        return {
            "_target_": f"{type(self).__module__}.{type(self).__qualname__}",
            "operand_width": self.operand_width,
            "reverse_answer": self.reverse_answer,
        }
