"""Stand-ins for CANN where it is not installed: an ACL simulator and an ATC simulator.

They are used only when ``MINDINFER_ASCEND_SIMULATOR`` is set (tests set it); they are named
simulators because they compile and accelerate nothing.
"""
