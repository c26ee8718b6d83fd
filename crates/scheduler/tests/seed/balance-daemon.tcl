#!/bin/sh
# Trick to get next line ignored by tclsh \
    exec /usr/bin/tclsh "$0" ${1+"$@"}

###
### Distcc load balancing daemon.
### Copyright (c) Scott Lystig Fritchie, 2004.
### All rights reserved.
### 
### Permission is hereby granted, free of charge, to any person obtaining a
### copy of this software and associated documentation files (the "Software"),
### to deal in the Software without restriction, including without limitation
### the rights to use, copy, modify, merge, publish, distribute, sublicense,
### and/or sell copies of the Software, and to permit persons to whom the
### Software is furnished to do so, subject to the following conditions:
### 
### The above copyright notice and this permission notice shall be included
### in all copies or substantial portions of the Software.
### 
### THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
### IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
### FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL
### THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR
### OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE,
### ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR
### OTHER DEALINGS IN THE SOFTWARE.
###

###
### Global variables
###

# The TCP port number that we listen to for balancing queries
set BalanceTcpPort 5656

# The TCP port number that we listen to for status queries
set StatusTcpPort 5657

# The TCP port number that we listen to for distcc server status updates.
set StatusUpdateTcpPort 5658

# The distcc server list.  The inside lists are pairs of:
# 1. "hostname/IP address : distcc server TCP port number", just like
#    the DISTCC_HOSTS syntax
# 2. The maximum number of simultaneous distcc jobs (usually 1 job
#    per CPU).
#
# The hosts should be listed order of in fastest to slowest CPUs.
# We assume all CPUs on a host are the same speed.
set ServerList [list \
		    [list "snookles:3632" 1] \
		    [list "newbb:3632" 1] \
		    [list "10.1.1.143" 1] \
	       ]
set IdleServers 0;			# Will be set correctly later
set DownServers 0

# This is the waiting queue of sockets waiting for an idle server.
# Initialize to be an empty list.
set WaitQueue [list]
set WaitQueueLen 0

# ServerStatus is an array that will be initialized later.
# ServerUpState is an array that will be initialized later.
# ClientStatus is an array that will be initialized later.

# Verbose debugging output
set Verbose 1

###
### Procs
###

proc error_msg {msg} {
    puts stderr $msg
}

proc verbose {msg} {
    global Verbose

    if {$Verbose} {
	puts $msg
    }
}

proc add_to_wait_queue {tuple} {
    global WaitQueue WaitQueueLen
    
    lappend WaitQueue $tuple
    incr WaitQueueLen
}

proc remove_from_wait_queue {} {
    global WaitQueue WaitQueueLen
    
    if {$WaitQueueLen == 0} {
	return ""
    } else {
	incr WaitQueueLen -1
	set tuple [lindex $WaitQueue 0]
	set WaitQueue [lreplace $WaitQueue 0 0]
	return $tuple
    }
}

proc get_server_tuple {server_info_wanted} {
    global ServerList

    foreach pair $ServerList {
	set server_info [lindex $pair 0]
	if {$server_info == $server_info_wanted} {
	    return $pair
	}
    }
    return ""
}

proc get_idle_server {} {
    global ServerList IdleServers DownServers ServerStatus
    global ServerUpState

    if {$IdleServers - $DownServers <= 0} {
	return ""
    }
    foreach pair $ServerList {
	set server_info [lindex $pair 0]
	if {$ServerStatus($server_info) > 0 &&
	    $ServerUpState($server_info) == "up"} {
	    incr ServerStatus($server_info) -1
	    incr IdleServers -1
	    return $server_info
	}
    }
    error "get_idle_server: should never happen"
}

proc put_idle_server {server_info} {
    global ServerList IdleServers ServerStatus

    verbose "put_idle_server: $server_info is now idle"
    incr ServerStatus($server_info)
    incr IdleServers
}

proc save_client_state {client_s client_addr client_port server_info} {
    global ClientStatus

    set ClientStatus($client_s) [list $client_addr $client_port $server_info]
}

proc sock_readable {sock} {
    global ClientStatus

    if {[eof $sock]} {
	set client_addr [lindex $ClientStatus($sock) 0]
	set client_port [lindex $ClientStatus($sock) 1]
	set server_info [lindex $ClientStatus($sock) 2]
	verbose "Sock $sock has closed: client_s = client_addr = $client_addr, client_port = $client_port, server_info = $server_info"

	unset ClientStatus($sock)
	put_idle_server $server_info

	catch {
	    fileevent $sock readable ""
	    close $sock
	}
	# Main loop only runs if no other clients are connected.
	# So, we usually need to trigger a new dispatch here.
	dispatch_waiting_clients
    } else {
	while {[read $sock 1024] != ""} {
	    verbose "Sock $sock sent us something..."
	}
    }
}

proc handle_new_client {client_s client_addr client_port} {
    verbose "client_s = $client_s, client_addr = $client_addr, client_port = $client_port"

    set server_info [get_idle_server]
    if {$server_info == ""} {
	verbose "No idle servers, append to wait queue"
	add_to_wait_queue [list $client_s $client_addr $client_port]
	return
    }
    save_client_state $client_s $client_addr $client_port $server_info

    catch {
	puts $client_s $server_info
	flush $client_s
    }
    
    fconfigure $client_s -blocking 0 -buffering none -translation binary
    fileevent $client_s readable [list sock_readable $client_s]

    verbose "handle_new_client: end"
}

proc dispatch_waiting_clients {} {
    global IdleServers DownServers

    verbose "dispatch_waiting_clients: top"
    while {$IdleServers - $DownServers > 0} {
	verbose "dispatch_waiting_clients: top of loop"
	set last_dispatched 0
	set tuple [remove_from_wait_queue]
	if {$tuple == ""} {
	    break
	}
	set client_s [lindex $tuple 0]
	set client_addr [lindex $tuple 1]
	set client_port [lindex $tuple 2]
	verbose "dispatch_waiting_client: client_s = $client_s"
	handle_new_client $client_s $client_addr $client_port
    }
    verbose "dispatch_waiting_clients: end"
}

proc handle_new_status_client {client_s client_addr client_port} {
    global BalanceTcpPort StatusTcpPort
    global ServerList IdleServers DownServers
    global WaitQueue WaitQueueLen
    global ServerStatus ClientStatus
    global ServerUpState

    catch {
	puts $client_s "BalanceTcpPort = $BalanceTcpPort, StatusTcpPort = $StatusTcpPort"
	puts $client_s "ServerList = $ServerList"
	puts $client_s "IdleServers = $IdleServers"
	puts $client_s "DownServers = $DownServers"
	puts $client_s "WaitQueue = $WaitQueue"
	puts $client_s "WaitQueueLen = $WaitQueueLen"
	puts $client_s "ServerStatus (available distcc servers) = [array get ServerStatus]"
	puts $client_s "ServerUpState (distcc server up/down status) = [array get ServerUpState]"
	puts $client_s "ClientStatus (who's connected to what) = [array get ClientStatus]"
	flush $client_s
	close $client_s
    }
}

proc handle_new_statusupdate_client {client_s client_addr client_port} {
    global ServerUpState
    global DownServers

    set line [gets $client_s]
    set l [split $line]
    set server_info [lindex $l 0]
    set status [lindex $l 1]
    if {$ServerUpState($server_info) == "down" && $status == "up"} {
	set tuple [get_server_tuple $server_info]
	if {$tuple != ""} {
	    verbose "State change: $server_info was down, now up"
	    set ServerUpState($server_info) "up"
	    set max [lindex $tuple 1]
	    incr DownServers "-$max"
	    dispatch_waiting_clients
	}
    }
    if {$ServerUpState($server_info) == "up" && $status == "down"} {
	set tuple [get_server_tuple $server_info]
	if {$tuple != ""} {
	    verbose "State change: $server_info was up, now down"
	    set ServerUpState($server_info) "down"
	    set max [lindex $tuple 1]
	    incr DownServers $max
	}
    }
    close $client_s
}

###
### Argument handling and startup tasks
###

if {[catch {set Balance_s [socket -server handle_new_client $BalanceTcpPort]} cv]} {
    error_msg "Fatal error initializing TCP port $BalanceTcpPort: $cv"
    exit 1
}
if {[catch {set Status_s [socket -server handle_new_status_client $StatusTcpPort]} cv]} {
    error_msg "Fatal error initializing TCP port $StatusTcpPort: $cv"
    exit 1
}
if {[catch {set Update_s [socket -server handle_new_statusupdate_client $StatusUpdateTcpPort]} cv]} {
    error_msg "Fatal error initializing TCP port $StatusUpdateTcpPort: $cv"
    exit 1
}

###
### Initialize the ServerStatus array.
###

set sum 0
foreach pair $ServerList {
    set server_info [lindex $pair 0]
    set max [lindex $pair 1]
    set ServerStatus($server_info) $max
    set ServerUpState($server_info) up	;# External source gives host down info
    incr sum $max
}
set IdleServers $sum

###
### Start running the Tcl event loop
###

vwait forever
error "NOT REACHED"
