"""RemovableHandle: returned by register_hook and the Module hook registrations."""


class RemovableHandle:
    def __init__(self, container, key):
        self._container = container
        self._key = key

    def remove(self):
        c = self._container
        if isinstance(c, dict):
            c.pop(self._key, None)
        else:
            try:
                c.remove(self._key)
            except ValueError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()
