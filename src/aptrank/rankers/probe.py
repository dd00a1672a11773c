"""A fixed probe of natural English texts on which ``backend=auto`` measures each backend's speed
and its agreement with torch fp32 (:mod:`aptrank.rankers.backends`).

Short passages on varied topics (science, medicine, law, sport, cooking, software, history)
and queries that each passage set answers to different degrees, so that a cross-encoder's scores
spread and a ranking can be compared. Joined in twos and threes they give documents long enough
to reach a model's ``max_length``, so the timing sees the lengths a corpus has. Changing a text
changes :data:`PROBE_VERSION` (every cached choice is measured again).
"""

from __future__ import annotations

PROBE_VERSION = 1

PASSAGES = (
    "Vitamin D is produced in the skin after exposure to sunlight and is also found in oily fish "
    "and fortified foods. Low blood levels have been associated with weaker bones, and several "
    "trials have tested whether supplements reduce fractures in older adults, with mixed results.",
    "Tuberculosis is caused by Mycobacterium tuberculosis and spreads through the air when an "
    "infected person coughs. Most infections stay latent; active disease is treated with several "
    "antibiotics taken together for at least six months to prevent resistance.",
    "Statins lower LDL cholesterol by inhibiting an enzyme in the liver. In randomized trials they "
    "reduced heart attacks and strokes in people at high cardiovascular risk, while muscle pain is "
    "the side effect patients most often report.",
    "The mitochondrion produces most of the cell's ATP through oxidative phosphorylation. It "
    "carries its own small circular genome, inherited from the mother, and mutations in it cause "
    "rare disorders of muscle and nerve tissue.",
    "CRISPR-Cas9 lets researchers cut DNA at a site chosen by a short guide RNA. The cell repairs "
    "the break, sometimes introducing small insertions or deletions that switch a gene off, which "
    "makes the system a standard tool for studying gene function.",
    "Regular aerobic exercise improves insulin sensitivity and lowers blood pressure. "
    "Observational studies link it with a lower risk of type 2 diabetes, although people who "
    "exercise also tend to differ in diet, income and smoking.",
    "A tenant who withholds rent because of needed repairs should first notify the landlord in "
    "writing. Many jurisdictions require the landlord to act within a reasonable time before the "
    "tenant may repair the defect and deduct the cost.",
    "Copyright protects the expression of an idea, not the idea itself. A recipe's list of "
    "ingredients is usually not protected, but the descriptive text and photographs that "
    "accompany it may be.",
    "The marathon distance of 42.195 kilometres was fixed in 1921. Elite runners pace themselves "
    "evenly, and most of them lose time in the last ten kilometres as their glycogen stores run "
    "low.",
    "In football, the offside rule applies when an attacker is nearer the opponents' goal line "
    "than both the ball and the second-last defender at the moment the ball is played to them.",
    "To make a stable emulsion such as mayonnaise, add the oil slowly to the egg yolk while "
    "whisking; lecithin in the yolk coats the oil droplets and keeps them from merging.",
    "Bread dough rises because yeast ferments sugars into carbon dioxide and ethanol. Kneading "
    "develops gluten, the elastic network that traps the gas, and a cold overnight proof deepens "
    "the flavour.",
    "A hash table stores key-value pairs in an array indexed by a hash of the key. Lookups take "
    "constant time on average, but many collisions or a poor hash function degrade them toward "
    "linear time.",
    "Garbage collectors reclaim memory that a program can no longer reach. Generational "
    "collectors exploit the observation that most objects die young, scanning recently allocated "
    "objects far more often than old ones.",
    "Transformer language models process text as tokens and use self-attention to let each token "
    "weigh every other token. Their cost grows with the square of the sequence length, which "
    "limits how much text fits in one pass.",
    "The printing press, introduced in Europe by Johannes Gutenberg around 1440, made books far "
    "cheaper and helped spread the ideas of the Reformation and the scientific revolution.",
    "The Silk Road was a network of trade routes linking China with the Mediterranean. Besides "
    "silk and spices, it carried religions, technologies such as papermaking, and diseases.",
    "Coral reefs form from the calcium carbonate skeletons of tiny animals living in symbiosis "
    "with algae. When the water warms, the corals expel the algae and bleach, and prolonged "
    "bleaching kills the reef.",
    "Photosynthesis converts light, water and carbon dioxide into sugar and oxygen. The light "
    "reactions take place in the thylakoid membranes, and the Calvin cycle fixes carbon in the "
    "stroma of the chloroplast.",
    "Interest rates set by a central bank influence borrowing costs across the economy. Raising "
    "them tends to slow inflation by cooling demand, at the risk of higher unemployment.",
    "Sleep deprivation impairs attention and memory consolidation. Adults who regularly sleep less "
    "than six hours a night report more accidents and show higher rates of obesity and "
    "hypertension.",
    "Antibiotic resistance arises when bacteria survive treatment and pass on the genes that "
    "protected them. Overuse in medicine and agriculture speeds this selection.",
    "Electric cars convert stored battery energy into motion far more efficiently than engines "
    "burn fuel. Their lifetime emissions depend mostly on how the electricity that charges them "
    "is generated.",
    "Vaccines train the immune system with a harmless part or copy of a pathogen. Memory cells "
    "then respond quickly to a later infection, which is why a second dose or booster often "
    "strengthens protection.",
)

QUERIES = (
    "vitamin D supplements prevent fractures",
    "how long is tuberculosis treatment",
    "statins reduce heart attacks",
    "gene editing with CRISPR",
    "can a tenant deduct repair costs from rent",
    "why does bread dough rise",
    "average lookup time of a hash table",
    "coral bleaching caused by warm water",
)


def documents() -> list[str]:
    """The passages alone, then joined in twos and threes (longer documents)."""
    n = len(PASSAGES)
    twos = [f"{PASSAGES[i]} {PASSAGES[(i + 7) % n]}" for i in range(0, n, 2)]
    threes = [" ".join(PASSAGES[(i + k * 5) % n] for k in range(3)) for i in range(0, n, 3)]
    return [*PASSAGES, *twos, *threes]


def pairs() -> list[tuple[str, str]]:
    """Every query with every passage, query by query."""
    return [(q, p) for q in QUERIES for p in PASSAGES]
