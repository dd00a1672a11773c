from __future__ import annotations

import subprocess
import sys


def test_importing_teach_and_every_teacher_loads_no_heavy_library():
    code = (
        "import sys, aptrank.teach, aptrank.teach.teachers\n"
        "from aptrank.teach.teachers import cross_encoder, http, llm_judge, prompts\n"
        "from aptrank.rankers import llm, rewrite, prompts as lm_prompts, generation\n"
        "heavy = [m for m in ('torch', 'transformers', 'sentence_transformers', 'pandas',"
        " 'pyarrow') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
