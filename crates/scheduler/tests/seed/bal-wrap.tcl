#!/bin/sh
# Trick to get next line ignored by tclsh \
    exec /usr/bin/tclsh "$0" ${1+"$@"}

set LbHost localhost
set LbPort 5656

#
# There are three things that we don't do well:
#
# 1. We mix the compiler's stderr into stdout
# 2. We don't preserve the exit status of the compiler.
# 3. We assume that the load balancing service is always available.
#
# However, this is meant to be a demo only, so I
# (at least) can live with the limitations.
#

set sock [socket $LbHost $LbPort]
set server_info [gets $sock]
set env(DISTCC_HOSTS) $server_info

set cmd $argv
catch {set out [eval "exec $cmd 2>@ stdout"] ; puts $out}
catch {close $sock}
exit 0
