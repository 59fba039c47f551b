"""OVA and OVF appliances: a tar or a folder of files described by an OVF descriptor."""
