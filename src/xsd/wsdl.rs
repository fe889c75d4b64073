//! WSDL 1.1 documents for SOAP operations: not written yet.
