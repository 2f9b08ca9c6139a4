"""Benchmark-only shim for the Python peer (supervisord 4.3 + Supvisors 0.19) on loopback.

Supvisors 0.19 finds itself in `supvisors_list` by matching the hosts there against the
addresses of the NON-loopback interfaces (`supvisors/internal_com/mapper.py:get_network_info`
skips `lo`). With every instance on 127.0.0.1 that match can never succeed ("could not find the
Supvisors in supvisors_list"). This module reports every interface, `lo` included, then hands
over to the unmodified plugin factory; nothing else is changed.

Use: `supervisor.rpcinterface_factory = loopback_shim:make_supvisors_rpcinterface`, with this
directory on PYTHONPATH.
"""

import socket

import supvisors.internal_com.mapper as _mapper


def _get_network_info_with_loopback():
    for _, nic_name in socket.if_nameindex():
        addr = _mapper.get_interface_info(nic_name)
        if addr:
            yield _mapper.NicInformation(nic_name, *addr)


_mapper.get_network_info = _get_network_info_with_loopback

from supvisors.plugin import make_supvisors_rpcinterface  # noqa: E402,F401
