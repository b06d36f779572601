"""Tools for the course's authors: executing notebooks reproducibly (:mod:`.notebooks`) and checking the simulator
against the real service (:mod:`.realcheck`)."""
