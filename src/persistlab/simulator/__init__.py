"""The offline stand-in for the OpenAI API that every notebook talks to unless a real key is chosen.

- :mod:`.service`: the simulated API itself (embeddings, chat), as an httpx transport inside the process;
- :mod:`.http_server`: the same service over loopback HTTP in a separate process;
- :mod:`.errors`: the API's refusals (status code and body); :mod:`.faults`: outages injected on purpose;
- :mod:`.clock`: virtual time, so that an outage's retries do not make a notebook wait;
- :mod:`.endpoints`: which endpoint a request is for; :mod:`.tokens`: offline token counting;
- :mod:`.netguard`: refusing connections that would leave the machine.
"""
