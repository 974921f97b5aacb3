//! Network namespaces: created by the daemon without forking, bind-mounted
//! under the exec root and passed to the runtime by path.
