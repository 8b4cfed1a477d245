//! `porthole-standby`: the stand-by of a local-cluster pod's or a CI job's
//! process, exec'd by Porthole's own fork (see `server::sandbox::enclosure`)
//! with `PORTHOLE_STAND_BY=<pid>` set. Not for running by hand.

fn main() {
    server::sandbox::enclosure::stand_by_if_asked();
    eprintln!("porthole-standby: started by Porthole for a pod's or job's process, not by hand");
    std::process::exit(2);
}
