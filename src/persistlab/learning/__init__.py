"""What the lessons' own cells use: the usage meter, the course's texts, quizzes and the learner's progress.

- :mod:`.meter`: embedding requests, tokens and dollars (``persistlab.metered``);
- :mod:`.corpus`: the course's documents and questions, and synthetic corpora;
- :mod:`.quiz` (the widgets) and :mod:`.quiz_files` (what a quiz file holds and the checks it must pass);
- :mod:`.progress`: answered quizzes, self-check scores and a progress bar.
"""
