package statuslist

// Event announces that a status list changed and has been re-signed.
type Event struct {
	List    string  `json:"list"`
	Purpose Purpose `json:"purpose"`
}
