"""Text as it is: prompts go to the model unchanged and completions come back unchanged."""


class PlainTextFormat:
    """The identity format of language-modelling tasks (arithmetic has its own)."""

    def prompt_to_model(self, prompt: str) -> str:
        return prompt

    def answer_from_model(self, text: str) -> str:
        return text

    def to_config(self) -> dict:
        return {"_target_": f"{type(self).__module__}.{type(self).__qualname__}"}
