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

set LbHost [lindex $argv 0]
set LbStatusPort [lindex $argv 1]
set LbStatusUpdatePort [lindex $argv 2]
set TestInterval 10
set Verbose 1

proc verbose {msg} {
    global Verbose

    if {$Verbose} {
	puts $msg
    }
}


while {1} {
    if {[catch {
	set sock [socket $LbHost $LbStatusPort]
	set stuff [read $sock]
	close $sock
	regexp {ServerList = ([^\n]*)\n} $stuff dummy server_list
	foreach server $server_list {
	    set server_info [lindex $server 0]
	    set si [split $server_info ":"]
	    if {[lindex $si 1] == ""} {
		set port 3632
	    } else {
		set port [lindex $si 1]
	    }
	    if {[catch {
		set sock [socket [lindex $si 0] $port]
		close $sock
	    }]} {
		verbose "$server_info is down"
		set status down
	    } else {
		verbose "$server_info is up"
		set status up
	    }
	    set sock [socket $LbHost $LbStatusUpdatePort]
	    puts $sock "$server_info $status"
	    close $sock
	}
    } cv]} {
	puts stderr "Catch: $cv"
    }
    after [expr $TestInterval * 1000]
}
