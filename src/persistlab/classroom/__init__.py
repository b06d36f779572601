"""What instructors and the self-check run: the grading cycle on top of nbgrader.

- :mod:`.cycle`: ``persistlab release|collect|feedback|export``; :mod:`.autograde`: ``persistlab autograde``;
  :mod:`.selfcheck`: ``persistlab check``;
- :mod:`.course`: an nbgrader course folder; :mod:`.report`: the class report after grading;
- :mod:`.nbgrader_config` (the settings) and :mod:`.preprocessors` (the preprocessors it names);
- :mod:`.graded_env`: the environment graded code runs in; :mod:`.hidden`: hidden tests; :mod:`.points`: an
  exercise's points table; :mod:`.kernels` and :mod:`.zygote`: grading kernels forked from a process that imported
  the libraries (opt-in).
"""
