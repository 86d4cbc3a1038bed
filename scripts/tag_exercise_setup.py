"""Tag each lesson's first code cell `exercise-setup` (metadata only; no outputs touched)."""
import json, sys
from pathlib import Path
check = "--check" in sys.argv
for p in sorted(Path("notebooks").glob("[0-9][0-9]_*.ipynb")):
    raw = p.read_text(encoding="utf-8")
    nb = json.loads(raw)
    again = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
    if check:
        print(p.name, "round-trip identical" if again == raw else "DIFFERS")
        continue
    cell = next(c for c in nb["cells"] if c["cell_type"] == "code")
    tags = cell["metadata"].setdefault("tags", [])
    if "exercise-setup" not in tags:
        tags.append("exercise-setup")
    p.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
