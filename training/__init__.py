"""Training side of denovo (needs torch): model, losses, data, trainer.

Import submodules directly (``from denovo_training.model import TRM``); this
package re-exports nothing so that importing one part stays cheap.
"""

__all__: list[str] = []
